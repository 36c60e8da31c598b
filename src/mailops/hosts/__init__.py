"""Acting on inventory hosts outside a pyinfra deploy: SSH commands."""
