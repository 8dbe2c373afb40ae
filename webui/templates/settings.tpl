% rebase('base.tpl', page=page)
% v = s['values']; locked = s['locked']
<h1>Settings</h1>
% if error:
<p class="error" role="alert" id="settings-error">{{error}}</p>
% end
% if v['kill_switch'] != '1':
<p class="warning" role="alert">{{warning}}</p>
% end
<form method="post" action="/settings">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <fieldset>
    <legend>Kill switch</legend>
    <div class="choice"><input type="checkbox" id="kill_switch" name="kill_switch" value="1" {{'checked' if v['kill_switch'] == '1' else ''}} {{'disabled' if 'kill_switch' in locked else ''}} aria-describedby="ks-help">
    <label for="kill_switch">Block all internet traffic while the tunnel is down</label></div>
    <p class="hint" id="ks-help">{{locked.get('kill_switch', 'Recommended. ' + warning.replace('The kill switch is off. ', 'When off: '))}}</p>
  </fieldset>
  <label for="dns_mode">DNS (name lookups)</label>
  <select id="dns_mode" name="dns_mode" {{'disabled' if 'dns_mode' in locked else ''}} aria-describedby="dns-help">
% for value, text in (("tunnel", "VPN Spot's DNS, through the tunnel (private)"), ("isp", "My internet provider's DNS, outside the tunnel (it sees every name)"), ("custom", "My own DNS servers, through the tunnel")):
    <option value="{{value}}" {{'selected' if v['dns_mode'] == value else ''}}>{{text}}</option>
% end
  </select>
  <p class="hint" id="dns-help">{{locked.get('dns_mode', "VPN Spot's DNS: names are resolved by VPN Spot's resolver, through the tunnel. Internet provider: names are resolved by your internet provider, outside the tunnel; it sees every name your devices look up. Own servers: names are resolved by the servers you list below (addresses on the internet, not in your home), through the tunnel; while the tunnel is down no name is resolved.")}}</p>
  <label for="dns_servers">Own DNS servers (only with "My own DNS servers"; separate with spaces)</label>
  <input id="dns_servers" name="dns_servers" type="text" maxlength="1000" value="{{' '.join(v['dns_servers'])}}" {{'disabled' if 'dns_servers' in locked else ''}} aria-invalid="{{'true' if field == 'dns_servers' else 'false'}}">
  <label for="ipv6_mode">IPv6</label>
  <select id="ipv6_mode" name="ipv6_mode" {{'disabled' if 'ipv6_mode' in locked else ''}} aria-describedby="v6-help">
    <option value="tunnel" {{'selected' if v['ipv6_mode'] == 'tunnel' else ''}}>Through the tunnel (blocked when the server has none)</option>
    <option value="block" {{'selected' if v['ipv6_mode'] == 'block' else ''}}>Always blocked</option>
  </select>
  <p class="hint" id="v6-help">{{locked.get('ipv6_mode', 'IPv6 never goes around the tunnel.')}}</p>
  <label for="mtu_mode">Tunnel packet size (MTU)</label>
  <select id="mtu_mode" name="mtu_mode" {{'disabled' if 'mtu' in locked else ''}} aria-describedby="mtu-help">
    <option value="auto" {{'selected' if v['mtu'] == 'auto' else ''}}>Automatic</option>
    <option value="manual" {{'selected' if v['mtu'] != 'auto' else ''}}>Manual</option>
  </select>
  <label for="mtu">Manual MTU (1280 to 1500)</label>
  <input id="mtu" name="mtu" type="number" min="1280" max="1500" value="{{v['mtu'] if v['mtu'] != 'auto' else ''}}" {{'disabled' if 'mtu' in locked else ''}} aria-invalid="{{'true' if field == 'mtu' else 'false'}}">
  <p class="hint" id="mtu-help">{{locked.get('mtu', 'Leave on automatic unless support asks you to change it.')}}</p>
  <label for="report_period_minutes">Bandwidth report period (minutes, 60 to 1440)</label>
  <input id="report_period_minutes" name="report_period_minutes" type="number" min="60" max="1440" value="{{v['report_period_minutes']}}" {{'disabled' if 'report_period_minutes' in locked else ''}} aria-describedby="rp-help" aria-invalid="{{'true' if field == 'report_period_minutes' else 'false'}}">
  <p class="hint" id="rp-help">{{locked.get('report_period_minutes', 'The router reports only total bytes per period, never what your devices did. The default, 1440 (one report a day), is what billing needs; shorter periods tell the provider when your home is busy.')}}</p>
  <button type="submit">Save settings</button>
</form>
