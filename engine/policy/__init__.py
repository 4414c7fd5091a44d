"""The policy owner's and auditor's workflow: lint, test cases, diff, replay."""
