% rebase('base.tpl', page=page)
<h1>Your VPN Spot account</h1>
% include('steps.tpl', steps=steps)
% if step['done']:
<p class="step">Step 2 of 4: done</p>
<p class="flash ok" id="account-done">This router is already {{step['detail']}}: there is nothing to do in this step.</p>
<p><a class="button" id="continue" href="{{skip}}">Continue</a></p>
<h2>Move this router to another account</h2>
<p>Only if this router should use a different VPN Spot account: enter that account's email address and a new activation code from its account page. The code is used once and not stored.</p>
% else:
<p class="step">Step 2 of 4: sign in to VPN Spot</p>
<p>Enter the email address of your VPN Spot account and the activation code from your account page. The code is used once and not stored.</p>
% end
% if error:
<p class="error" role="alert" id="account-error">{{error}}</p>
% end
<form method="post" action="/setup/account">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="email">Account email</label>
  <input id="email" name="email" type="email" autocomplete="email" required maxlength="254" value="{{email}}" aria-invalid="{{'true' if field == 'email' else 'false'}}">
  <label for="code">Activation code</label>
  <input id="code" name="code" type="text" autocomplete="off" required maxlength="64" placeholder="VPNS-XXXX-XXXX" aria-invalid="{{'true' if field == 'code' else 'false'}}">
  <button type="submit">{{'Sign in with this account' if step['done'] else 'Sign in'}}</button>
</form>
