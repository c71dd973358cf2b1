"""What the tests share besides fixtures (conftest.py imports these, never the reverse):
loopback HTTP servers (servers.py), sources written to disk (zoo.py), a fake GitHub
(fake_github.py) and the hostile-archive corpus (hostile_archives.py)."""
