% rebase('base.tpl', page=page)
<h1>Protection</h1>
% include('steps.tpl', steps=steps)
<p class="step">Step 4 of 4: the kill switch{{(' (done: ' + step['detail'] + ')') if step['done'] else ''}}</p>
<p>With the kill switch on, your devices cannot reach the internet at all while the tunnel is down, so nothing ever leaves your home unprotected. We recommend keeping it on.</p>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<form method="post" action="/setup/protection">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
% if locked:
  <p class="locked">Kill switch: on ({{locked}}).</p>
  <input type="hidden" name="kill_switch" value="1">
% else:
  <div class="choice"><input type="checkbox" id="kill_switch" name="kill_switch" value="1" {{'checked' if on else ''}} aria-describedby="ks-warning">
  <label for="kill_switch">Kill switch on</label></div>
  <p class="warning" id="ks-warning">If you turn it off: {{warning}}</p>
% end
  <button type="submit">Finish</button>
</form>
<p class="hint"><a id="skip" href="/status">Skip this step</a>: the kill switch stays {{'on' if on else 'OFF'}}; the Settings page changes it at any time.</p>
