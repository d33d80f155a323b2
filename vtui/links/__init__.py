"""Links between nodes: the service that finds their ends, records and wires them."""
