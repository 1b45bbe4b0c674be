"""Operations layer."""
