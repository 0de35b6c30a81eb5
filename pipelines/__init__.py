"""SAP-native supply-chain planning on Dagster."""

import warnings

# BackfillPolicy (used on every partitioned asset) is marked beta in Dagster 1.13; the warning
# would repeat once per asset at every code-location load.
warnings.filterwarnings("ignore", message=r".*`backfill_policy`.* is currently in beta")
