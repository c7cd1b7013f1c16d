"""The client side: request sessions, attaching devices, trace submission."""
