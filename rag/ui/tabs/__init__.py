"""One module per tab; each defines `TAB = Tab(label, id, build)` and is listed in rag.ui.app.TABS."""
