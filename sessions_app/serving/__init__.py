"""What `manage.py serve` is made of: the listening socket, the web processes, and the supervisor.

`listen` binds the port (or says in one line why it cannot), `web` is one web process serving
that socket, `children` starts and restarts the processes, `supervisor` watches them.
"""
