from covidlake.cli import main

main()
