% rebase('base.tpl', page=page)
<h1>Welcome</h1>
<p class="step">Step 1 of 4: protect these pages</p>
<p>Choose a password for this router's pages. Anyone on your home network who knows it can change how your home is protected.</p>
% if error:
<p class="error" role="alert" id="pw-error">{{error}}</p>
% end
<form method="post" action="/setup/password">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="password">New password (at least 8 characters)</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="256">
  <label for="repeat">The same password again</label>
  <input id="repeat" name="repeat" type="password" autocomplete="new-password" required minlength="8" maxlength="256">
  <button type="submit">Continue</button>
</form>
