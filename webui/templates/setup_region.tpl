% rebase('base.tpl', page=page)
<h1>Where should your traffic leave?</h1>
<p class="step">Step 3 of 4: choose a region</p>
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
    <div class="choice"><input type="radio" id="region-fastest" name="region" value="fastest" checked>
    <label for="region-fastest">Fastest (recommended): the router picks the quickest server</label></div>
% for i, (region, place) in enumerate(regions):
    <div class="choice"><input type="radio" id="region-{{i}}" name="region" value="{{region}}">
    <label for="region-{{i}}">{{place}} ({{region}})</label></div>
% end
  </fieldset>
  <button type="submit">Continue</button>
</form>
