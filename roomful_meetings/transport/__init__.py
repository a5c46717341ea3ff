"""The websocket server and the tasks of each connection."""
