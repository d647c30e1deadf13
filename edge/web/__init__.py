"""The nurse's tablet UI: server-rendered pages (Jinja), progressively enhanced, zh-CN and English."""
