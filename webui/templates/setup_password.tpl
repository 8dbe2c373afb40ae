% rebase('base.tpl', page=page)
<h1>Welcome</h1>
<p class="step">Step 1 of 4: protect these pages</p>
<p>Choose a password for this router's pages. Anyone on your home network who knows it can change how your home is protected.</p>
<p>To show that this is your router, also type its <strong>setup code</strong>: it is printed on the router's label when your internet provider supplied the router; otherwise run <code>vpnspot setup-code</code> on the router's command line (over SSH, where you installed VPN Spot).</p>
% if error:
<p class="error" role="alert" id="pw-error">{{error}}</p>
% end
<form method="post" action="/setup/password">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="setup_code">Setup code</label>
  <input id="setup_code" name="setup_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required maxlength="80" placeholder="XXXXX-XXXXX" aria-invalid="{{'true' if field == 'setup_code' else 'false'}}">
  <label for="password">New password (at least 8 characters)</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="256" aria-invalid="{{'true' if field == 'password' else 'false'}}">
  <label for="repeat">The same password again</label>
  <input id="repeat" name="repeat" type="password" autocomplete="new-password" required minlength="8" maxlength="256">
  <button type="submit">Continue</button>
</form>
