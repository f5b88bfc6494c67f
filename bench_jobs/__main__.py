from bench_jobs.cli import main

main()
