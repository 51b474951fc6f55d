from perpflow.cli.main import main

main()
