% rebase('base.tpl', page=page)
<h1>Servers</h1>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% if own['in_use']:
<p class="warning" id="own-in-use">Your own server{{(' (' + own['imported']['endpoint'] + ')') if own['imported'] else ''}} is in use, not these VPN Spot servers. To choose one of them, go to the <a href="/wireguard">WireGuard page</a> and choose "Use VPN Spot servers".</p>
% end
% if data.get('note'):
<p class="note">{{data['note']}}</p>
% end
<form method="post" action="/servers">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <fieldset {{'disabled' if own['in_use'] else ''}}>
    <legend>Connect through</legend>
    <div class="choice"><input type="radio" id="srv-fastest" name="server" value="fastest" {{'checked' if data['selected'] == 'fastest' else ''}}>
    <label for="srv-fastest">Fastest: the router picks the quickest server{{' in ' + data['region'] if data.get('region') not in (None, 'fastest') else ''}}</label></div>
% for i, srv in enumerate(data['servers']):
    <div class="choice server"><input type="radio" id="srv-{{i}}" name="server" value="{{srv['id']}}" {{'checked' if data['selected'] == srv['id'] else ''}}>
    <label for="srv-{{i}}"><span class="sid">{{srv['id']}}</span> {{srv['city']}}, {{srv['country']}} · region {{srv['region']}} · load {{srv['load']}}% · latency {{('%d ms' % srv['latency_ms']) if srv['latency_ms'] is not None else 'not measured yet'}}</label></div>
% end
  </fieldset>
  <button type="submit" {{'disabled' if own['in_use'] else ''}}>Use this server</button>
</form>
