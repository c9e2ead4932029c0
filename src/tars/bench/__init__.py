"""`tars bench`: measured speed of the bus and the engines, written as JSON and a chart."""
