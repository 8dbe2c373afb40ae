% rebase('base.tpl', page=page)
<h1>Where should your traffic leave?</h1>
% include('steps.tpl', steps=steps)
<p class="step">Step 3 of 4: choose a region{{(' (done: ' + step['detail'] + ')') if step['done'] else ''}}</p>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% if note:
<p class="note">{{note}}</p>
% end
<form method="post" action="/setup/region">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <fieldset>
    <legend>Region</legend>
    <div class="choice"><input type="radio" id="region-fastest" name="region" value="fastest" {{'checked' if current == 'fastest' else ''}}>
    <label for="region-fastest">Fastest (recommended): the router picks the quickest server</label></div>
% for i, (region, place) in enumerate(regions):
    <div class="choice"><input type="radio" id="region-{{i}}" name="region" value="{{region}}" {{'checked' if current == region else ''}}>
    <label for="region-{{i}}">{{place}} ({{region}})</label></div>
% end
  </fieldset>
  <button type="submit">Continue</button>
</form>
<p class="hint"><a id="skip" href="{{skip}}">Skip this step</a>: the router keeps its current choice ({{step['detail'] or 'fastest'}}); the Servers page changes it at any time.</p>
