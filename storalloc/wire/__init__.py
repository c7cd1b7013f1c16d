"""Wire format and sockets: messages, their JSON codec, ROUTER/DEALER transport."""
