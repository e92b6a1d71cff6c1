"""Online (River) models: a learned fusion ranker, an online collaborative model, user profiles, A/B."""
