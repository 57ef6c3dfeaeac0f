"""Operations that touch instances: where core's decisions meet the runner and the backends."""
