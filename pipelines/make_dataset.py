"""Writes the demo dataset, data/clicks.csv: synthetic ad impressions and clicks.

Deterministic (fixed seed), so the committed file can be regenerated exactly:
  python -m pipelines.make_dataset
"""

import csv
import math
import os
import random

NUM_ROWS = 3000
DEVICES = ('mobile', 'desktop', 'tablet')
COUNTRIES = ('US', 'DE', 'IN', 'BR', 'JP', 'FR')
AD_CATEGORIES = ('travel', 'finance', 'games', 'fashion', 'food', 'auto', 'tech', 'health')
COLUMNS = ('age', 'income', 'daily_minutes', 'device', 'country', 'ad_category', 'clicked')
PATH = os.path.join(os.path.dirname(__file__), 'data', 'clicks.csv')


def make_rows(num_rows: int = NUM_ROWS, seed: int = 2024):
  rng = random.Random(seed)
  for _ in range(num_rows):
    age = rng.randint(18, 80)
    income = round(rng.lognormvariate(10.6, 0.5), 2)
    minutes = round(rng.expovariate(1 / 45), 1)
    device = rng.choices(DEVICES, weights=(6, 3, 1))[0]
    country = rng.choice(COUNTRIES)
    category = rng.choice(AD_CATEGORIES)
    logit = (-2.0 + 0.02 * minutes - 0.015 * (age - 40) +
             (0.8 if device == 'mobile' else 0.0) +
             (0.9 if category in ('games', 'tech') and age < 35 else 0.0))
    clicked = int(rng.random() < 1 / (1 + math.exp(-logit)))
    yield (age, income, minutes, device, country, category, clicked)


def main() -> None:
  with open(PATH, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    writer.writerows(make_rows())
  print(f'Wrote {NUM_ROWS} rows to {PATH}')


if __name__ == '__main__':
  main()
