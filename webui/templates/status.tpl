% rebase('base.tpl', page=page)
<h1>Status</h1>
<section class="state state-{{st['state']}}" id="state-box" data-state="{{st['state']}}" aria-live="polite">
  <p class="big" id="state" data-field="state">{{shown['state']}}</p>
  <p id="state-text" data-field="state_text">{{shown['state_text']}}</p>
  <p class="stale-note" id="stale" hidden></p>
</section>
<div id="notes">
% for note in st['notes']:
<p class="warning">{{note}}</p>
% end
</div>
<dl class="facts">
  <dt>Server</dt><dd data-field="server">{{shown['server']}}</dd>
  <dt>Region</dt><dd data-field="region">{{shown['region']}}</dd>
  <dt>Connected for</dt><dd data-field="uptime">{{shown['uptime']}}</dd>
  <dt>Last handshake</dt><dd data-field="handshake">{{shown['handshake']}}</dd>
  <dt>Public address (seen through the tunnel)</dt><dd data-field="public_ip">{{shown['public_ip']}}</dd>
  <dt>Receiving</dt><dd data-field="rx_rate">{{shown['rx_rate']}}</dd>
  <dt>Sending</dt><dd data-field="tx_rate">{{shown['tx_rate']}}</dd>
  <dt>Kill switch</dt><dd data-field="kill_switch">{{shown['kill_switch']}}</dd>
  <dt>Account</dt><dd data-field="account">{{shown['account']}}</dd>
</dl>
% # An open debug session, whoever opened it: any administrator sees it and may close it.
% if get('debug') and debug['open']:
<div id="debug-open" class="notice warning">
  <p>A debug session{{(' opened from the ' + debug['opened_by']) if debug.get('opened_by') else ''}} is open ({{'%d min left' % (int(debug['expires_in'] or 0) // 60)}}): the router keeps connection details and the devices it sees on your network in its memory until it ends. <a href="/diagnostics">Details</a></p>
  <form method="post" action="/diagnostics/debug/close">
    <input type="hidden" name="csrf" value="{{page['csrf']}}">
    <input type="hidden" name="back" value="status">
    <button type="submit">Close it now</button>
  </form>
</div>
% end
<h2>Traffic through the tunnel</h2>
<p class="legend"><span class="key rx"></span> received <span class="key tx"></span> sent · all devices together, times in UTC</p>
<h3>Last 24 hours</h3>
<div class="chart-box" data-chart="hourly">{{!day_svg}}</div>
<h3>Last 30 days</h3>
<div class="chart-box" data-chart="daily">{{!month_svg}}</div>
