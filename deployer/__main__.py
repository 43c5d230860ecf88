from deployer.cli import run_main

run_main()
