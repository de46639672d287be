"""examples/cpp/cpu_work.py: a CPU-bound pure-Python function that parallel_call runs in two interpreters."""


def count_primes(limit):
    """Number of primes below ``limit``, by trial division: pure bytecode, no C helpers."""
    count = 0
    for candidate in range(2, limit):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count
