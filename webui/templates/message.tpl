% rebase('base.tpl', page=page)
<h1>{{heading}}</h1>
<p>{{text}}</p>
<p><a href="/">Back to the router's pages</a></p>
