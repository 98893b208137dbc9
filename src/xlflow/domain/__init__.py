"""The policy vocabulary: ID numbers, identities, 户口性质, tiers, amounts, years."""
