"""Time-skipping workflow tests: real workflows, activities faked under their real names."""
