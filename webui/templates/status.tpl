% rebase('base.tpl', page=page)
<h1>Status</h1>
<section class="state state-{{st['state']}}" aria-live="polite">
  <p class="big" id="state" data-field="state">{{st['state'].replace('-', ' ')}}</p>
  <p id="state-text" data-field="state_text">{{st['state_text']}}</p>
</section>
% for note in st['notes']:
<p class="warning">{{note}}</p>
% end
<dl class="facts">
  <dt>Server</dt><dd data-field="server">{{('Your own server (%s)' % st['server']['endpoint']) if st['server'] and st['server'].get('own') else ('%s (%s, %s)' % (st['server']['id'], st['server']['city'], st['server']['country'])) if st['server'] else '-'}}</dd>
  <dt>Region</dt><dd data-field="region">{{st['server']['region'] if st['server'] else '-'}}</dd>
  <dt>Connected for</dt><dd data-field="uptime">{{fmt('duration', st['uptime_s'])}}</dd>
  <dt>Last handshake</dt><dd data-field="handshake">{{fmt('duration', st['handshake_age_s']) + ' ago' if st['handshake_age_s'] is not None else '-'}}</dd>
  <dt>Public address (seen through the tunnel)</dt><dd data-field="public_ip">{{st.get('public_ip_text') or st['public_ip'] or '-'}}</dd>
  <dt>Receiving</dt><dd data-field="rx_rate">{{fmt('rate', st['rx_rate'])}}</dd>
  <dt>Sending</dt><dd data-field="tx_rate">{{fmt('rate', st['tx_rate'])}}</dd>
  <dt>Kill switch</dt><dd data-field="kill_switch">{{'on' if st['kill_switch'] else 'OFF'}}</dd>
  <dt>Account</dt><dd>{{st['account'] or '-'}}</dd>
</dl>
<h2>Traffic through the tunnel</h2>
<p class="legend"><span class="key rx"></span> received <span class="key tx"></span> sent · all devices together, times in UTC</p>
<h3>Last 24 hours</h3>
<div class="chart-box" data-chart="hourly">{{!day_svg}}</div>
<h3>Last 30 days</h3>
<div class="chart-box" data-chart="daily">{{!month_svg}}</div>
