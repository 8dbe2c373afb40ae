% rebase('base.tpl', page=page)
<h1>About this router</h1>
<dl class="facts">
  <dt>Model</dt><dd>{{about['model'] or 'unknown'}}</dd>
  <dt>Operating system</dt><dd>{{about['os'] or 'unknown'}}</dd>
  <dt>VPN Spot agent</dt><dd>{{about['agent_version']}}</dd>
  <dt>Tunnel runs in</dt><dd>{{about['data_plane'] or 'unknown'}}</dd>
  <dt>Encryption engine</dt><dd>{{about['crypto'] or 'unknown'}}</dd>
  <dt>Why this engine</dt><dd>{{about['crypto_reason'] or 'not measured yet'}}</dd>
</dl>
