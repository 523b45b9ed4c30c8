"""Several `sentinel run` nodes sharing one PostgreSQL database and one MQTT broker.

Cameras are leased (`leases.py`): a node claims unowned or expired cameras up to its fair share in one
transaction (`SELECT ... FOR UPDATE SKIP LOCKED`), renews them well inside their time to live and stops a
camera before its lease can expire when it cannot renew. Each claim raises the camera's epoch, and an alert is
stored only while its node still holds the camera at that epoch (the fencing token), so a node that lost a
camera cannot slip an alert in after another node took over. Work that is not per camera (case timers,
retention, adopting a dead node's unsent messages) runs on the node holding the leader lease (`leader.py`).
"""
