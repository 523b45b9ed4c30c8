"""Storage at the bottom of the house: the SQLAlchemy Base, engines, migrations."""
