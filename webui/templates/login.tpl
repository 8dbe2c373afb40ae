% rebase('base.tpl', page=page)
<h1>Sign in</h1>
% if error:
<p class="error" role="alert" id="login-error">{{error}}</p>
% end
<form method="post" action="/login">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="password">Router password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
  <button type="submit">Sign in</button>
</form>
<p class="hint">Forgot the password? A factory reset of the router clears it (your VPN Spot account stays).</p>
