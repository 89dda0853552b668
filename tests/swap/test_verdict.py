"""The verdict on a measured swap: client cost, beyond the spread, memory."""

import pytest

from tests.swap.test_measure import _case, _section
from tfx_warmup.errors import SwapMemoryError
from tfx_warmup.swap import verdict


def test_a_candidate_is_recommended_only_beyond_the_spread():
  defaults = _case('defaults', 'a', [10.0, 11.0, 12.0])
  clearly = _case('load-pool', 'b', [6.0, 7.0, 8.0])
  within = _case('named-pools', 'b', [9.5, 10.5, 13.0])
  assert verdict.best_of([clearly, within], defaults).name == 'load-pool'
  assert verdict.best_of([within], defaults) is None
  text = verdict.recommendation_text(defaults, None, [within])
  assert "No candidate measured better than TF Serving's defaults" in text
  assert '11.00 ms' in text and "'named-pools' 10.50 ms" in text


def test_no_warmup_ranks_below_the_defaults_by_what_clients_pay():
  defaults = _case('defaults', 'a', [4.0, 4.2, 4.4], late=0, first_p99_ms=1.1)
  bare = _case('no-warmup', 'c', [3.5, 3.55, 3.6], late=1170, first_p99_ms=1230.0,
               first_max_ms=1900.0, window_seconds=0.3)
  ranks = {c.name: c.rank for c in verdict.ranked([defaults, bare])}
  assert ranks == {'defaults': 1, 'no-warmup': 2}  # its lower window p99 does not save it
  text = verdict.no_warmup_text(defaults, bare)
  assert 'moves the cold start to clients: 1170 requests late' in text
  assert 'p99 1230.00 ms, worst 1900.00 ms' in text and 'ranks below the defaults' in text
  quiet = _case('no-warmup', 'c', [3.5, 3.55, 3.6], late=0, first_p99_ms=1.0)
  assert 'stayed within the deadline' in verdict.no_warmup_text(defaults, quiet)


def test_a_candidate_with_more_late_requests_is_not_recommended():
  defaults = _case('defaults', 'a', [10.0, 11.0, 12.0], late=2)
  faster_but_late = _case('load-pool', 'b', [6.0, 7.0, 8.0], late=30)
  assert verdict.best_of([faster_but_late], defaults) is None
  assert verdict.best_of([_case('load-pool', 'b', [6.0, 7.0, 8.0], late=2)], defaults)


def test_verdicts_that_do_not_rank_say_why_with_the_figures():
  defaults = _case('defaults', 'a', [10.0])
  text = verdict.recommendation_text(defaults, None, [_case('load-pool', 'b', [3.0])],
                                     'too-few-runs', '1 run per case; needs 3.')
  assert text.startswith('Measured, not ranked: 1 run per case')
  assert "'load-pool' 3.00 ms" in text and 'defaults 10.00 ms' in text


def test_too_few_runs_or_a_noisy_calibration_rank_nothing_and_say_why():
  assert verdict.unranked(3, [2.0, 2.5, 5.9]) is None  # 2.95x: within NOISE_LIMIT
  said, why = verdict.unranked(1, [2.0])
  assert said == 'too-few-runs' and why.startswith('1 run per case; a recommendation needs at '
                                                   'least 3')
  assert verdict.unranked(2, [2.0, 2.0])[1].startswith('2 runs per case')
  said, why = verdict.unranked(3, [2.0, 2.5, 8.0])
  assert said == 'too-noisy' and 'moved 4.0x between the calibration runs ([2.0, 2.5, 8.0] ms)' in (
      why)


def test_spread_is_max_over_min():
  assert verdict.spread([74.7, 6.1, 10.0]) == pytest.approx(74.7 / 6.1)
  assert verdict.spread([5.0]) is None and verdict.spread([]) is None


def test_a_swap_peaking_past_the_memory_limit_fails_with_the_figures():
  verdict.check_memory_limit(_section(None))
  verdict.check_memory_limit(_section(1024))
  with pytest.raises(SwapMemoryError, match=r'needs 820 MiB at peak .*past the limit of '
                                            r'512 MiB') as raised:
    verdict.check_memory_limit(_section(512))
  assert raised.value.peak_mib == 820 and raised.value.limit_mib == 512
  headline = verdict.memory_headline(_section(None))
  assert headline.startswith('The swap needs 520 MiB at peak, 200 MiB steady, above the '
                             'runtime')
  assert verdict.size(2048 + 512) == '2.50 GiB'
  assert 'peaked at 820 MiB, 300 MiB of it the interpreter' in headline


def test_an_unload_that_gives_nothing_back_is_said():
  assert verdict.unload_note(_section(None, unloaded_mib=600)) is None  # 58% kept
  note = verdict.unload_note(_section(None, unloaded_mib=815))
  assert note.startswith("After the old version unloaded, the process kept 99% of the swap's "
                         'peak (815 of 820 MiB)')
  assert 'Size the container for the peak' in note
