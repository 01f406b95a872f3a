"""Durable state in SQLAlchemy: runs, phase history, approvals, audit, step records. The
only package that imports sqlalchemy; imports bot.upgrade.
"""
