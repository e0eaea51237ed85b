"""Lesson suggestions, feedback, capture and project seeding inside Jira."""
