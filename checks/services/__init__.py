"""application.services: the call-center services run, listen and stay up."""
