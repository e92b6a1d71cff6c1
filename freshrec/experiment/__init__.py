"""``freshrec experiment``: the closed-loop A/B of recommender variants judged by the simulated shop."""
