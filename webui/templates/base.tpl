<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{page['csrf']}}">
<title>{{page['title']}} · {{page['provider']}} router</title>
<link rel="stylesheet" href="/static/style.css">
% if page['branded']:
<link rel="stylesheet" href="/static/brand.css">
% end
<script src="/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
  <span class="brand">{{page['provider']}} router</span>
% if page['signed_in']:
  <nav aria-label="Main">
    <ul>
% for href, label, key in (("/status", "Status", "status"), ("/servers", "Servers", "servers"), ("/settings", "Settings", "settings"), ("/wireguard", "WireGuard", "wireguard"), ("/diagnostics", "Diagnostics", "diagnostics"), ("/about", "About", "about")):
      <li><a href="{{href}}" aria-current="{{'page' if page['active'] == key else 'false'}}">{{label}}</a></li>
% end
    </ul>
  </nav>
  <form method="post" action="/logout" class="logout">
    <input type="hidden" name="csrf" value="{{page['csrf']}}">
    <button type="submit">Sign out</button>
  </form>
% end
</header>
<main id="main">
% for kind, text in page['flash']:
<p class="flash {{kind}}" role="status">{{text}}</p>
% end
{{!base}}
</main>
</body>
</html>
