"""Rankers (models.base.Ranker) and the business rules applied after ranking."""
