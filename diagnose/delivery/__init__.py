"""Getting a report to people: mail (with its spool), the nightly schedule, and the run lock."""
