"""Grid cases: state machine, engine, routing (roster), calendar, timers, commands, KPIs."""
