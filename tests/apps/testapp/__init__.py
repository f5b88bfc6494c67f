"""The app tests install in their benches. Helpers split its jobs by module to keep out of each other's way."""
