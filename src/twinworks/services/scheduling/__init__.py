"""Production scheduling: job shop and flexible job shop with CP-SAT, dispatching
rules, rescheduling on disruptions, and Gantt charts."""
