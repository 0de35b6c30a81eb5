"""SAP-native supply-chain planning on Dagster."""
