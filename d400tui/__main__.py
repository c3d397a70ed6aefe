from d400tui.cli import main

main()
