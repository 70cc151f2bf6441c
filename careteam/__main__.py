from careteam.cli import main

main()
