"""The whole stack rehearsed on one machine: moto, nginx, sshd and an internal API."""
