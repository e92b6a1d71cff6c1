"""Candidate sources: each proposes items for a session with a score and a reason (models.base.CandidateSource)."""
